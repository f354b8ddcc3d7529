"""One variable of a cache entry: how it is kept, copied for a consumer, and fingerprinted.

Mutable objects are kept as pickle protocol 5 (cloudpickle) with out-of-band buffers. Big
buffers are copied once, into a memfd, and each consumer maps that memfd copy-on-write:
readers cost no copy, a writer's pages become its own. pandas objects (Copy-on-Write in
pandas 3) are kept as shallow copies and pickled only when written to disk. Immutables and
modules are shared; functions defined in the pipeline are re-bound to the consumer's
namespace; objects that cannot be pickled are shared by reference and make the entry not
cacheable.

Variables of one result that share objects (`holder = [x]`, `alias = x`, a graph holding
another variable's node) are kept together as one value, a 'group': one pickle of
{name: object} with one memo, so a consumer gets one object where the component had one.
The group is kept under its first name; the other names are 'member' values naming it.
"""

from cellpipe.cache.values.backing import Backing, buffer_layout, fresh_copy
from cellpipe.cache.values.fingerprint import fingerprint, fingerprint_parts
from cellpipe.cache.values.functions import rebind_function
from cellpipe.cache.values.pickling import pickle_parts, root_of
from cellpipe.cache.values.stored import (
    GROUPED,
    StoredValue,
    format_version,
    identity_matters,
    load_value,
    load_values,
    move_array,
    own_refs,
    seal_array,
    shared_groups,
    store_group,
    store_value,
)
from cellpipe.cache.values.watch import changed, watch

__all__ = [
    "GROUPED",
    "Backing",
    "StoredValue",
    "buffer_layout",
    "changed",
    "fingerprint",
    "fingerprint_parts",
    "format_version",
    "fresh_copy",
    "identity_matters",
    "load_value",
    "load_values",
    "move_array",
    "own_refs",
    "root_of",
    "seal_array",
    "pickle_parts",
    "rebind_function",
    "shared_groups",
    "store_group",
    "store_value",
    "watch",
]
