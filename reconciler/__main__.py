"""`python -m reconciler`: the same entry as the `reconciler` console script."""

from .cli import run

if __name__ == "__main__":
    run()
