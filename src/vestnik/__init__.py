"""vestnik: a self-hosted informer-call service speaking the UIS Call API v4.0."""

__version__ = "0.1.0"
