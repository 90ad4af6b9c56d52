"""Plain NumPy/pandas reference of the compensated mass balance and its statistical test (test oracle, speed
baseline), and a small synthetic segment for unit tests."""
