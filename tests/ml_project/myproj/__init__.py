"""An ML project of several modules (tests/e2e/test_ml_project.py)."""
