# placeholder: statistical monitors (in progress)
