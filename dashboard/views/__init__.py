"""Dashboard pages: Streamlit scripts that dashboard/app.py routes to (not named pages/, which
would switch on Streamlit's legacy page discovery for the first visit)."""
