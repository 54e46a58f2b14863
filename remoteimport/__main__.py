"""``python -m remoteimport``: the same as the ``remoteimport`` command."""

from remoteimport.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
