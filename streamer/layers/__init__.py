"""Layered publishing: one participant's video at several sizes, one layer per viewer.

``LayerSet`` ties a publisher's video tracks (one ``TrackSource`` each) together and ranks
them by the coded size their keyframes carry; ``LayerSwitch`` moves one viewer's track from
layer to layer at a keyframe of the target, re-basing its RTP clock so the viewer sees one
continuous stream; ``LayerSelector`` chooses the layer from the viewer's RTCP feedback (down
quickly on loss, up cautiously by probing); ``ViewerLayers`` wires the three for one viewer.
"""
