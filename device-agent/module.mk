# device-agent/: the board daemon. GPIO lives only in hal/; the gpiod backend
# is built only WITH_GPIOD=yes.
AGENT_SRCS := $(filter-out device-agent/main.c,$(wildcard device-agent/*.c)) \
	$(wildcard device-agent/hal/gpio_sim.c device-agent/hal/sim_plant.c)
ifeq ($(WITH_GPIOD),yes)
AGENT_SRCS += $(wildcard device-agent/hal/$(GPIOD_SRC))
endif
AGENT_OBJS := $(patsubst %.c,$(O)/%.o,$(AGENT_SRCS))
$(O)/libhtagent.a: $(AGENT_OBJS)
$(BIN)/device-agent: $(O)/device-agent/main.o $(HT_LIBS)
	@mkdir -p $(@D)
	$(LINK)
BINS += $(BIN)/device-agent
ALL_OBJS += $(AGENT_OBJS) $(O)/device-agent/main.o
