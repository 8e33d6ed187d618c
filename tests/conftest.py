import sys
from pathlib import Path

# tests/tiny.py and other helpers are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))
