"""House-price model: schema, cleaning, features, model, bundle and serving, shared by the
DVC stages and the API so that training and serving cannot drift apart."""
