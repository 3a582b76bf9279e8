"""`pipebench guide`: every tip of the tutorials and of TensorFlow's tf.data guide, measured here.

`tips` holds the claims and their experiments, `experiment` runs them (ordinary runs,
one per mode and page-cache state) and judges them, `record` is guide.json. The page
is `bench.report.guide_page`.
"""
