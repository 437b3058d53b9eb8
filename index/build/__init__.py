"""Sources -> a new index version: the stages (read, cut, embed, write), the local pipeline and the Ray runner."""
