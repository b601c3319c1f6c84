"""Interactive block resampling: the picker's state machine (`picker`) and its ipywidgets front end
(`widgets`)."""
