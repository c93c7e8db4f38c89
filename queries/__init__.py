"""The GraphQL documents the project sends (one ``.graphql`` file each), shipped as ``bulk.queries``."""
