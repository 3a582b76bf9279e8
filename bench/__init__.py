"""pipebench: benchmark and profile TensorFlow/Keras input pipelines under one harness.

Data flows one way: configuration (`config`) -> data spec (`data`) -> pipeline
variant (`pipelines`) -> runner in a child process per cell (`runner`, `worker`)
-> results (`results`) -> report (`report`).
"""

__version__ = "0.1.0"
