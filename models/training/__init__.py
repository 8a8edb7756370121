"""Training-data rendering and the recognizer's training scripts.

Why a package under models/ rather than the runtime: rendering synthetic plates is what the
recognizer was trained on, so it belongs with the model files, not with the code that reads
cameras.  The tests, the benches and the demo still draw plates with it (what they check is what
the model learned from), and they import it from here like any other foundation: this package
never imports the engine's stages.
"""
