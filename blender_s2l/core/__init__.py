"""Pure core: numpy + torch only. Importing bpy anywhere under here is a bug."""
