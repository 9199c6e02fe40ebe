"""Import: live state -> spec files (read, build (pure), write), per resource kind."""
