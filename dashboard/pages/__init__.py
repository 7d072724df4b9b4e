"""One module per page: `register(app)` calls `dash.register_page` and adds its callbacks.

Pages are registered explicitly (no folder scan) so the order is fixed and a
test can build several apps in one process. `login.py` is not a Dash page:
it is a server-rendered form (nothing of Dash is reachable before sign-in).
"""

from dashboard.pages import admin, case, cohort, jobs, metrics, models, new_case, not_found

PAGE_MODULES = (new_case, case, cohort, metrics, models, jobs, admin, not_found)
