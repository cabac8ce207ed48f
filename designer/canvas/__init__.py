"""The layer palette and the canvas that draws and edits the layer stack."""
