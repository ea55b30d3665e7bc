"""Everything that needs Qt/napari: dock widgets and thread workers over the core."""
