# SipIps build, test, demo and benchmarks. `make help` lists the targets.
SHELL   := /bin/bash
DOTNET  ?= dotnet
CONFIG  ?= Release
OUT     ?= out
# The external test corpus; tests read it through $CORPUS.
CORPUS  ?= $(abspath ../shared/corpus)
export CORPUS
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

HOST_DLL := src/SipIps.Host/bin/$(CONFIG)/net10.0/sipips.dll
GEN_DLL  := tests/SipIps.TrafficGen/bin/$(CONFIG)/net10.0/sipips-trafficgen.dll

.PHONY: help build test deps demo demo-analyze bench publish deb clean

help:
	@echo "make demo     SipIps inline in a network-namespace lab with sipp calls through it (root), else a capture analysis"
	@echo "make demo-analyze  generate a capture and analyse it"
	@echo "make test     all tests (installs the Debian packages they need when run as root)"
	@echo "make bench    BenchmarkDotNet code-path benchmarks and whole-system figures (not part of test)"
	@echo "make publish  self-contained, trimmed, single-file ReadyToRun build in $(OUT)/publish"
	@echo "make deb      the Debian package, out/sipips_<version>_amd64.deb"
	@echo "make build    build everything"

build:
	$(DOTNET) build SipIps.sln -c $(CONFIG) -nologo -v minimal

deps:
	@tests/install-deps.sh

test: deps
	$(DOTNET) build SipIps.sln -c $(CONFIG) -nologo -v minimal
	$(DOTNET) test SipIps.sln -c $(CONFIG) --no-build -nologo --logger "console;verbosity=minimal"
	@# sipips caps its vectors at 128 bits on most processors (src/SipIps.Capture/Interop/VectorWidth.cs), while the
	@# run above takes the machine's widest: the engine's tests run again at 128 bits.
	DOTNET_PreferredVectorBitWidth=128 $(DOTNET) test tests/SipIps.Engine.Tests/SipIps.Engine.Tests.csproj -c $(CONFIG) \
	  --no-build -nologo --logger "console;verbosity=minimal"

# The main job: SipIps inline in the network-namespace lab, with legitimate calls through it (needs root for the
# namespaces). Without root, the same engine analyses a capture the project generates.
demo: build
	@if [ "$$(id -u)" = 0 ]; then tests/install-deps.sh && tests/lab/demo.sh; else \
	  echo "(not root: no network namespaces; showing the capture analysis instead)"; $(MAKE) -s demo-analyze; fi

demo-analyze: build
	@mkdir -p $(OUT)
	$(DOTNET) $(GEN_DLL) $(OUT)/demo.pcap --sip-packets 5000 --attacks --rtp 3 --seed 7
	$(DOTNET) $(HOST_DLL) analyze $(OUT)/demo.pcap --clf $(OUT)/demo.clf --no-progress --rules rules --alerts $(OUT)/demo.alerts.json
	@echo
	@echo "First SIP CLF records ($(OUT)/demo.clf):"
	@head -c 1200 $(OUT)/demo.clf; echo

bench: deps build
	tests/bench/run.sh

publish:
	$(DOTNET) publish src/SipIps.Host/SipIps.Host.csproj -c Release -r linux-x64 --self-contained \
	  -p:PublishSingleFile=true -p:PublishTrimmed=true -p:PublishReadyToRun=true -o $(OUT)/publish -nologo

deb:
	packaging/build-deb.sh $(OUT)

clean:
	$(DOTNET) clean SipIps.sln -nologo -v quiet
	rm -rf $(OUT) BenchmarkDotNet.Artifacts
