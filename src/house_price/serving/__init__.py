"""The serving core: what the API, batch scoring and the MLflow model share, and none of them
owns. No web code (FastAPI, Starlette, prometheus-client: house_price.api) is imported here.

    bundle.py    the bundle directory: `Bundle`, the one loader `load_bundle`, `write_bundle`
                 (package, one pass)
    metadata.py  metadata.json's content (`bundle_metadata`: the params that fitted the model)
    booster.py   `ServingBooster`: model.ubj through XGBoost's C library (no xgboost package)
    requests.py  the request models generated from the profile, and their errors' wording
    limits.py    batch size, thread and size bounds; `int_env` for bounded settings
    served.py    `ServedModel`: a bundle self-checked and ready to serve (`ServedModel.load`)
    drift.py     the drift reference (`Reference`, drift.json) and live counts
    batch.py     batch scoring of a CSV (`house-price predict`)
"""
