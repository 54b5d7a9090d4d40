"""The front end: schema text → tokens → expressions → the checked model, and its visitor.

It imports no back end and nothing of the runtime: the model is all it gives.
"""
