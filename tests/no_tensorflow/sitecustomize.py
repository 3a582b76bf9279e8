"""On PYTHONPATH, makes TensorFlow and tf_keras unimportable in every Python process started.

The tests use it to stand for a machine where TensorFlow is not installed: a
module set to None in `sys.modules` raises ImportError when imported, and
`importlib.util.find_spec` refuses it, as it would a missing one.
"""

import sys

for _name in ("tensorflow", "tf_keras", "tensorboard"):
    sys.modules[_name] = None
