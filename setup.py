"""
Packaging for msync, an mbsync-compatible mail synchronizer built on Twisted.
"""

from setuptools import find_packages, setup

setup(
    name="msync",
    version="0.1.0",
    description="IMAP <-> Maildir synchronizer, a drop-in replacement for mbsync",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(exclude=["tests", "tests.*"]) + ["twisted.plugins"],
    package_data={"twisted": ["plugins/msync_plugin.py"]},
    install_requires=[
        "twisted>=24.7",
        "pyopenssl",
        "service-identity",
        "zope.interface",
    ],
    extras_require={
        "dev": [
            "ruff==0.17.6",
            "mypy==2.4.1",
            "mypy-zope==1.0.17",
            "hypothesis",
            "coverage>=7",
        ],
    },
    entry_points={
        "console_scripts": ["msync = msync.__main__:main", "msyncd = msync.daemonmain:main"]
    },
    # Relative to the installation prefix (the virtualenv, ~/.local for
    # "pip install --user"): man finds share/man next to a bin/ on PATH,
    # bash-completion and zsh look in these directories, and systemd reads
    # ~/.local/share/systemd/user for user units.
    data_files=[
        ("share/man/man1", ["docs/msync.1"]),
        ("share/man/man5", ["docs/msyncrc.5"]),
        ("share/bash-completion/completions", ["completion/msync"]),
        ("share/zsh/site-functions", ["completion/_msync"]),
        (
            "share/systemd/user",
            [
                "docs/systemd/msync.service",
                "docs/systemd/msync.timer",
                "docs/systemd/msync-daemon.service",
            ],
        ),
    ],
)
