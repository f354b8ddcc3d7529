import '@xyflow/react/dist/base.css';
import './base.css';
import './sweep.css';
import './inference.css';
