// placeholder until the node configurator lands
