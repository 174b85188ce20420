"""The control-plane store's shared parts: versioned migrations and the one-time import of
complement-map files. The adapters are app/adapters/{sqlite,postgres,memory}_store.py."""
