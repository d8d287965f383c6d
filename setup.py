"""Packaging for GlobalBev Lakehouse. Everything it needs comes from settings.ini (nbdev's classic layout)."""

from configparser import ConfigParser

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]


def _reqs(key: str) -> list[str]:
    """The space-separated requirement list `key` from settings.ini."""
    return cfg.get(key, "").split()


setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    license="Apache-2.0",
    keywords=cfg["keywords"],
    url=cfg["git_url"],
    python_requires=">=" + cfg["min_python"],
    packages=setuptools.find_packages(include=["globalbev", "globalbev.*", "data_generators", "data_generators.*"]),
    install_requires=_reqs("requirements"),
    extras_require={
        # The laptop: local Spark + Delta (with Spark Connect's client, for `[spark] api = connect`) and the embedded
        # PostgreSQL. Never install next to databricks-connect (it ships its own pyspark), never on Databricks (the
        # runtime has Spark; serverless cannot host a PostgreSQL).
        "local": _reqs("local_requirements"),
        # Tests, notebooks, nbdev. Includes local Spark: the test suite runs on real engines.
        "dev": _reqs("local_requirements") + _reqs("dev_requirements"),
        # The oldest Spark we promise (Databricks Runtime 17.3 LTS is Spark 4.0): `./dev compat` runs the unit tests
        # on it, in its own virtual environment.
        "compat": _reqs("compat_requirements"),
        # Databricks Connect: install in a SEPARATE virtual environment, without `local`/`dev`.
        "connect": _reqs("connect_requirements"),
        "azure": _reqs("azure_requirements"),
    },
    entry_points={"console_scripts": cfg["console_scripts"].split()},
    zip_safe=False,
)
