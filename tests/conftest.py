import sys
from pathlib import Path

# tests/tiny.py and other helpers are imported as top-level modules, and so are the research scripts of
# experiments/ (not part of the installed package).
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1] / "experiments"))
