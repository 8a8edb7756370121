"""The benchmarks users run and every target is checked with, and the demo camera.

One module per bench (accuracy, vision, hotlist, store, pipeline); `report.py` holds what their
reports share (the JSON file, the console table, the HTML page and its charts). `demo.py` renders
footage with known plates from `scenes.py`, for the pipeline bench, the stream tests and the
camera `platewatch up` adds on a fresh install. The `platewatch bench …` commands that run them
are in engine/commands/bench.py; nothing here is imported on `platewatch --help`.
"""
