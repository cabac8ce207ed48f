"""The app's own files, installed as the package `convnet_designer_resources`; engine/resources.py finds them."""
