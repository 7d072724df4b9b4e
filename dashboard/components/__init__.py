"""Layout pieces shared by several pages (shell, result cards, metadata lists)."""
