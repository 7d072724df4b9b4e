"""One module per page: `register(app)` calls `dash.register_page` and adds its callbacks.

Pages are registered explicitly (no folder scan) so the order is fixed and a
test can build several apps in one process.
"""

from dashboard.pages import case, cohort, metrics, models, new_case, not_found

PAGE_MODULES = (new_case, case, cohort, metrics, models, not_found)
