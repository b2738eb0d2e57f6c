"""Server-rendered pages: layout, home, invitation acceptance and allauth's templates."""
