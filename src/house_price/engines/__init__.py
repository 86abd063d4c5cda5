"""Engines: each stage's work on one pandas frame or partition by partition on Dask.

One module per stage (ingest, process, featurize, train, evaluate; sample: the train split as
one frame, for tune, evaluate and package), each with the same shape: `Engine`, the stage's
small interface (a Protocol); `PandasEngine` and `DaskEngine`, its two implementations; and
`for_params(params)`, which picks the one the `engine` param names, once. The stage scripts
call the interface and never branch on the engine. A stage's import closure holds its own
engine module only (dvc.yaml deps), with what the Dask implementations share: `partitions`
(partition files, Dask's delayed and compute) and `cluster` (the cluster a stage runs on).
Dask is imported inside the Dask implementations only: the pandas engine never loads it.
"""
