"""Type aliases for Blender RNA handles.

RNA is dynamic and the stubs' unions (Object.data is any of 13 ID types, most pointers Optional)
would force a cast on every line, so the Blender layer types its handles with these aliases;
the invariants the stubs cannot express are checked at run time (check_object, check_strip).
"""

from typing import Any

Context = Any
Object = Any
Mesh = Any
Scene = Any
Strip = Any
Action = Any
ActionSlot = Any
OpResult = Any  # set of 'FINISHED' | 'CANCELLED' | 'RUNNING_MODAL' | 'PASS_THROUGH'
