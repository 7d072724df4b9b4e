"""Backup and restore of a deployment: the database, the image folder and the home's secrets.

    procedure.py  `backup`, `restore`, `verify`, `check`: the folder layout and its manifest
    database.py   pg_dump / pg_restore, SQLite's online backup, or a row-by-row copy (any database)
    files.py      the image folder as a tar with a sha256 per file; secret_key and deid_salt

Run by `python deploy/backup.py backup|restore|verify` (README "Hospital IT").
"""
