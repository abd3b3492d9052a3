"""Dashboard pages (Streamlit scripts run by dashboard/app.py)."""
