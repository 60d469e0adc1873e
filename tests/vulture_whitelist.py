"""Names vulture cannot see being used (read by `vulture cnn_gui tests benchmarks`, tests/test_code_shape.py).

Only two kinds belong here: Qt's virtual methods and properties, which Qt calls by name on
our subclasses, and attributes that other libraries read from objects we configure.
"""

_ = object()

# Qt overrides: called by Qt, never by our code.
_.paintEvent
_.tabletEvent
_.closeEvent
_.headerData
_.lessThan
_.filterAcceptsRow
_.itemAt
_.takeAt
_.expandingDirections
_.hasHeightForWidth
_.textElideMode
_.dragEnterEvent
_.dropEvent
_.textFromValue
_.valueFromText

# Read by onnx / onnxruntime from the objects cnn_gui fills in.
_.doc_string
_.log_severity_level
