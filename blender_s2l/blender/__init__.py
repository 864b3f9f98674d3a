"""Everything that imports bpy: properties, panel, operators, strips, the bake itself."""
