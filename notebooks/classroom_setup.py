# Databricks notebook source
# MAGIC %md
# MAGIC # Classroom set-up
# MAGIC
# MAGIC Every lesson starts with `%run ./classroom_setup` (`%run ../notebooks/classroom_setup` from `solutions/`).
# MAGIC In a Databricks workspace it
# MAGIC 1. installs what the runtime lacks (`requirements-databricks.txt`: never pyspark, pandas or numpy) and
# MAGIC    restarts Python;
# MAGIC 2. reads three widgets at the top of the notebook: **catalog** (default `globalbev_dev`), **user_prefix**
# MAGIC    (default: from your user name, e.g. `jane_doe_`) and **reset** (`yes`: first drop every schema starting
# MAGIC    with your prefix);
# MAGIC 3. creates your schemas (`<catalog>.<prefix>bronze` … `ops`) and your Volume (`<catalog>.<prefix>ops.files`)
# MAGIC    if missing, and makes every `load_config()` in this notebook return your configuration.
# MAGIC
# MAGIC Each lesson then writes its tables to schemas of its own (`start_lesson` in `globalbev/classroom.py`), never
# MAGIC to the pipeline's. On a laptop `%run` runs this file as plain Python: the `MAGIC` lines are comments, so
# MAGIC nothing is installed, and the widgets read `GLOBALBEV_WIDGET_<NAME>` or their defaults.
# MAGIC docs/runbooks/databricks.md ("The classroom") has the rest.

# COMMAND ----------

# MAGIC %pip install --quiet -r ../requirements-databricks.txt

# COMMAND ----------

# MAGIC %python
# MAGIC dbutils.library.restartPython()

# COMMAND ----------

from globalbev.classroom import classroom_setup

classroom = classroom_setup()
