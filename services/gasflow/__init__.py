"""Natural-gas physics and a numba transient pipeline simulator."""
