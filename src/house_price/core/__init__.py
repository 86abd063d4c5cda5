"""The core layer: errors, file I/O, YAML, typed params, tables, the prediction formula, and
what every stage script shares."""
