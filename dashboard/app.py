"""The dashboard's entrypoint: declares the pages and routes between them, nothing else.

Started by ``xprof dashboard`` (``streamlit run dashboard/app.py``); the store comes from
``XPROF_STORE``.
"""

import streamlit as st

st.set_page_config(page_title="xprof", page_icon=":material/leaderboard:", layout="wide")

pages = [
    st.Page("views/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:",
            url_path="leaderboard", default=True),
    st.Page("views/run.py", title="Run", icon=":material/monitoring:", url_path="run"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:",
            url_path="compare"),
    st.Page("views/recommendations.py", title="Recommendations", icon=":material/lightbulb:",
            url_path="recommendations"),
    st.Page("views/spend.py", title="Spend", icon=":material/payments:", url_path="spend"),
]
st.navigation(pages).run()
