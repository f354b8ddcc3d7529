import '@xyflow/react/dist/base.css';
import './base.css';
import './sweep.css';
