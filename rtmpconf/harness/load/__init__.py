"""Load generation: many light players and real-rate publishers on one event loop per process."""
