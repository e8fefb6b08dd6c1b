"""`python -m node_agent ...`, the same as the `node-agent` console script."""
from .cli import main

if __name__ == "__main__":
    main(prog_name="node-agent")
