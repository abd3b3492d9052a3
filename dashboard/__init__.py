"""xprof.dashboard: the Streamlit app and the weekly report."""
