// Package plan turns a sovereignty strategy (a scenario file: needs, domestic
// capacity, candidate host sites and the paths to them) into numbers and
// into a placement the running system enforces: a posture map per building
// block, scores and gaps per prerequisite, an optimised placement per data
// class (gophersat pseudo-boolean optimisation), a Monte-Carlo resilience
// simulation and a report. The format is specified in docs/SCENARIO.md.
//
// Everything in a scenario is outside input: decoding is strict, every
// number is range-checked and every reference must resolve.
package plan

// Format is the value of a scenario's format field.
const Format = "embassy-scenario/v1"

// Scenario is one strategy to evaluate.
type Scenario struct {
	Format      string      `yaml:"format" schema:"required,const=embassy-scenario/v1"`
	Name        string      `yaml:"name" schema:"required" doc:"short title of the scenario"`
	State       string      `yaml:"state" schema:"required,cc" doc:"sending state, ISO 3166-1 alpha-2"`
	Currency    string      `yaml:"currency,omitempty" schema:"pattern=^[A-Z]{3}$" doc:"ISO 4217 code of every cost (default EUR)"`
	Description string      `yaml:"description,omitempty"`
	Home        Home        `yaml:"home" schema:"required"`
	Needs       Needs       `yaml:"needs,omitempty"`
	Posture     Posture     `yaml:"posture,omitempty"`
	Classes     []Class     `yaml:"classes" schema:"required,minItems=1" doc:"data classes to place"`
	Weights     Weights     `yaml:"weights,omitempty" doc:"weight of each prerequisite in a site's total score (default 1 each)"`
	Thresholds  []Threshold `yaml:"thresholds,omitempty" doc:"hard limits on site facts or prerequisite scores"`
	Optimise    Optimise    `yaml:"optimise,omitempty"`
	Paths       []Path      `yaml:"paths,omitempty" doc:"physical connectivity paths between home and the sites"`
	Sites       []Site      `yaml:"sites" schema:"required,minItems=1" doc:"candidate host sites"`
	Events      []Event     `yaml:"events,omitempty" doc:"correlated failures for the simulation"`
	Simulation  Simulation  `yaml:"simulation,omitempty"`
	Sources     []Source    `yaml:"sources,omitempty" doc:"public sources of the figures, cited by id"`
	Notes       []string    `yaml:"notes,omitempty"`
	Estimates   []string    `yaml:"estimates,omitempty" doc:"fields whose figures are estimates rather than sourced"`
}

// Home is the sending state's own side.
type Home struct {
	Location string   `yaml:"location" schema:"required,latlon" doc:"primary data centre as \"lat,lon\""`
	Domestic Capacity `yaml:"domestic,omitempty" doc:"what the state can run at home"`
	Paths    []string `yaml:"paths,omitempty" doc:"paths leaving home (names in paths)"`
}

// Capacity is compute and storage capacity.
type Capacity struct {
	ComputeMW    float64 `yaml:"compute-mw,omitempty" schema:"min=0,max=100000"`
	Accelerators int     `yaml:"accelerators,omitempty" schema:"min=0,max=100000000"`
	StorageTB    float64 `yaml:"storage-tb,omitempty" schema:"min=0,max=1e9"`
}

// Needs is the sending state's demand.
type Needs struct {
	ComputeMW    float64 `yaml:"compute-mw,omitempty" schema:"min=0,max=100000"`
	Accelerators int     `yaml:"accelerators,omitempty" schema:"min=0,max=100000000"`
}

// Posture is the position of each building block on the sovereignty spectrum.
type Posture struct {
	Compute      Block `yaml:"compute,omitempty"`
	Connectivity Block `yaml:"connectivity,omitempty"`
	Storage      Block `yaml:"storage,omitempty"`
}

// Block is one building block's posture.
type Block struct {
	Mode         string       `yaml:"mode,omitempty" schema:"enum=domestic|partnership|mix" doc:"reference strategy: extensive domestic ownership, trusted international partnership, or a mix"`
	Position     *float64     `yaml:"position,omitempty" schema:"min=0,max=1" doc:"0 = fully domestic, 1 = fully through partners (default from mode)"`
	Partners     []Partner    `yaml:"partners,omitempty"`
	Dependencies []Dependency `yaml:"dependencies,omitempty"`
}

// Partner is a named partner of a building block.
type Partner struct {
	Name      string `yaml:"name" json:"name" schema:"required"`
	State     string `yaml:"state,omitempty" json:"state,omitempty" schema:"cc"`
	Agreement string `yaml:"agreement,omitempty" json:"agreement,omitempty" doc:"identifier of the agreement with the partner"`
}

// Dependency is something a building block relies on.
type Dependency struct {
	Name      string `yaml:"name" json:"name" schema:"required"`
	Kind      string `yaml:"kind" json:"kind" schema:"required,enum=export-licence|vendor-firmware|provider-terms|hardware|energy|connectivity|talent|financing|other"`
	Provider  string `yaml:"provider,omitempty" json:"provider,omitempty"`
	State     string `yaml:"state,omitempty" json:"state,omitempty" schema:"cc" doc:"jurisdiction that can act on it"`
	SwitchOff bool   `yaml:"switch-off,omitempty" json:"switch_off,omitempty" doc:"a third party can switch it off"`
	Fallback  string `yaml:"fallback,omitempty" json:"fallback,omitempty" doc:"what replaces it; empty: no fallback"`
}

// Class is one data class to place.
type Class struct {
	Name             string   `yaml:"name" schema:"required,name"`
	Label            string   `yaml:"label" schema:"required,label" doc:"classification label (C/I/A levels or a named level)"`
	VolumeTB         float64  `yaml:"volume-tb" schema:"required,min=0.001,max=1e7"`
	ChangeGBPerDay   float64  `yaml:"change-gb-per-day,omitempty" schema:"min=0,max=1e9"`
	RPOHours         float64  `yaml:"rpo-hours,omitempty" schema:"min=0,max=100000" doc:"maximum data loss window (0: not set)"`
	RTOHours         float64  `yaml:"rto-hours,omitempty" schema:"min=0,max=100000" doc:"maximum time to restore the class from the sites (0: not set)"`
	Critical         *bool    `yaml:"critical,omitempty" doc:"needs jurisdiction and path diversity (default: availability level 3)"`
	MinJurisdictions int      `yaml:"min-jurisdictions,omitempty" schema:"min=0,max=50" doc:"default 2 for critical data, else 1"`
	MinCopies        int      `yaml:"min-copies,omitempty" schema:"min=0,max=50" doc:"minimum number of sites that can each restore the class alone (replicas)"`
	Tolerate         int      `yaml:"tolerate,omitempty" schema:"min=0,max=10" doc:"simultaneous site losses to survive (default 1)"`
	Jurisdictions    []string `yaml:"jurisdictions,omitempty" schema:"items=cc" doc:"residency: allowed jurisdictions; empty: any with an agreement"`
	Schemes          []string `yaml:"schemes,omitempty" schema:"items=scheme" doc:"\"replica\" or \"K+M\" erasure codes the optimiser may use (default replica)"`
	MinTier          int      `yaml:"min-tier,omitempty" schema:"min=0,max=4"`
}

// Weights are the prerequisite weights.
type Weights struct {
	Energy        *float64 `yaml:"energy,omitempty" schema:"min=0,max=100"`
	Water         *float64 `yaml:"water,omitempty" schema:"min=0,max=100"`
	Land          *float64 `yaml:"land,omitempty" schema:"min=0,max=100"`
	Hardware      *float64 `yaml:"hardware,omitempty" schema:"min=0,max=100"`
	Cybersecurity *float64 `yaml:"cybersecurity,omitempty" schema:"min=0,max=100"`
	Policy        *float64 `yaml:"policy,omitempty" schema:"min=0,max=100"`
	Talent        *float64 `yaml:"talent,omitempty" schema:"min=0,max=100"`
	Capital       *float64 `yaml:"capital,omitempty" schema:"min=0,max=100"`
}

// Threshold is a hard limit on one metric of a site.
type Threshold struct {
	Metric    string   `yaml:"metric" schema:"required,metric" doc:"a site fact (pue, water-stress, distance-km, ...) or score:PREREQUISITE"`
	Min       *float64 `yaml:"min,omitempty"`
	Max       *float64 `yaml:"max,omitempty"`
	Mandatory *bool    `yaml:"mandatory,omitempty" doc:"a site that fails it cannot be approved (default true)"`
	Reason    string   `yaml:"reason,omitempty"`
}

// Optimise tunes the placement optimiser.
type Optimise struct {
	RiskWeight  *float64 `yaml:"risk-weight,omitempty" schema:"min=0,max=1e9" doc:"cost units per unit of site risk (default: 10% of the mean fixed cost)"`
	TimeLimitS  float64  `yaml:"time-limit-s,omitempty" schema:"min=0,max=3600" doc:"stop improving after this many seconds (default 20)"`
	MaxSites    int      `yaml:"max-sites,omitempty" schema:"min=0,max=10000" doc:"open at most this many sites (0: no limit)"`
	BudgetPerYr float64  `yaml:"budget-per-year,omitempty" schema:"min=0" doc:"total cost cap (0: none)"`
}

// Path is one physical connectivity path between home and a site.
type Path struct {
	Name           string  `yaml:"name" schema:"required,name"`
	Kind           string  `yaml:"kind" schema:"required,enum=subsea|fibre|satellite|microwave"`
	LatencyMs      float64 `yaml:"latency-ms,omitempty" schema:"min=0,max=10000"`
	CapacityGbps   float64 `yaml:"capacity-gbps" schema:"required,min=0.001,max=1e6"`
	Region         string  `yaml:"region,omitempty"`
	CutProbability float64 `yaml:"cut-probability,omitempty" schema:"min=0,max=1" doc:"chance of a cut over the simulation horizon"`
	Source         string  `yaml:"source,omitempty"`
}

// Site is one candidate host site.
type Site struct {
	Name          string        `yaml:"name" schema:"required,name"`
	Jurisdiction  string        `yaml:"jurisdiction" schema:"required,cc"`
	Location      string        `yaml:"location" schema:"required,latlon"`
	Region        string        `yaml:"region,omitempty" doc:"grid or geographic region, for correlated blackouts"`
	Operator      string        `yaml:"operator,omitempty"`
	Agreement     string        `yaml:"agreement,omitempty" doc:"identifier of the agreement covering the site; empty: none"`
	URL           string        `yaml:"url,omitempty" doc:"where 'plan apply' registers the site"`
	Tier          int           `yaml:"tier" schema:"required,min=1,max=4"`
	CapacityTB    float64       `yaml:"capacity-tb" schema:"required,min=0,max=1e9"`
	Cost          Cost          `yaml:"cost" schema:"required"`
	Energy        Energy        `yaml:"energy,omitempty"`
	Water         Water         `yaml:"water,omitempty"`
	Land          Land          `yaml:"land,omitempty"`
	Hardware      Hardware      `yaml:"hardware,omitempty"`
	Cybersecurity Cybersecurity `yaml:"cybersecurity,omitempty"`
	Institutions  Institutions  `yaml:"institutions,omitempty"`
	Paths         []string      `yaml:"paths" schema:"required,minItems=1" doc:"paths that reach the site from home (names in paths)"`
	FailureProb   *float64      `yaml:"failure-probability,omitempty" schema:"min=0,max=1" doc:"chance the site is destroyed over the horizon (default from tier)"`
	Sources       []string      `yaml:"sources,omitempty" doc:"ids of the sources of the site's figures"`
}

// Cost is what a site costs a year.
type Cost struct {
	FixedPerYear float64 `yaml:"fixed-per-year" schema:"min=0,max=1e12"`
	PerTBYear    float64 `yaml:"per-tb-year" schema:"min=0,max=1e9"`
}

// Energy facts of a site.
type Energy struct {
	AvailableMW    *float64 `yaml:"available-mw,omitempty" schema:"min=0,max=100000"`
	PricePerMWh    *float64 `yaml:"price-per-mwh,omitempty" schema:"min=0,max=10000"`
	RenewableShare *float64 `yaml:"renewable-share,omitempty" schema:"min=0,max=1"`
	CarbonGPerKWh  *float64 `yaml:"carbon-g-per-kwh,omitempty" schema:"min=0,max=2000"`
	ConnectMonths  *float64 `yaml:"connect-months,omitempty" schema:"min=0,max=240"`
	PUE            *float64 `yaml:"pue,omitempty" schema:"min=1,max=5"`
}

// Water facts of a site.
type Water struct {
	StressIndex *float64 `yaml:"stress-index,omitempty" schema:"min=0,max=5" doc:"WRI Aqueduct baseline water stress, 0 (low) to 5 (extremely high)"`
	Cooling     string   `yaml:"cooling,omitempty" schema:"enum=air|free-air|evaporative|liquid|seawater"`
	WUE         *float64 `yaml:"wue-l-per-kwh,omitempty" schema:"min=0,max=20"`
}

// Land facts of a site.
type Land struct {
	AvailableHa      *float64 `yaml:"available-ha,omitempty" schema:"min=0,max=1e6"`
	PermittingMonths *float64 `yaml:"permitting-months,omitempty" schema:"min=0,max=240"`
}

// Hardware access at a site.
type Hardware struct {
	AcceleratorSupply *float64 `yaml:"accelerator-supply,omitempty" schema:"min=0,max=1" doc:"0 = none obtainable, 1 = unconstrained"`
	ExportControl     string   `yaml:"export-control,omitempty" schema:"enum=none|licence|restricted"`
}

// Cybersecurity facts of a site.
type Cybersecurity struct {
	Certifications []string `yaml:"certifications,omitempty"`
	Incidents5y    *int     `yaml:"incidents-5y,omitempty" schema:"min=0,max=10000" doc:"publicly known incidents in five years"`
}

// Institutions are the institutional prerequisites at a site, each 0..1.
type Institutions struct {
	PolicyStability *float64 `yaml:"policy-stability,omitempty" schema:"min=0,max=1"`
	Talent          *float64 `yaml:"talent,omitempty" schema:"min=0,max=1"`
	Financing       *float64 `yaml:"financing,omitempty" schema:"min=0,max=1"`
}

// Event is a correlated failure: one draw affects everything it names.
type Event struct {
	Name          string   `yaml:"name" schema:"required"`
	Kind          string   `yaml:"kind" schema:"required,enum=blackout|cable-cut|hostile-host|sanctions|disaster"`
	Probability   float64  `yaml:"probability" schema:"required,min=0,max=1" doc:"chance over the simulation horizon"`
	Regions       []string `yaml:"regions,omitempty"`
	Paths         []string `yaml:"paths,omitempty"`
	Jurisdictions []string `yaml:"jurisdictions,omitempty" schema:"items=cc"`
	Sites         []string `yaml:"sites,omitempty"`
	Source        string   `yaml:"source,omitempty"`
}

// Simulation tunes the Monte-Carlo run.
type Simulation struct {
	Trials int    `yaml:"trials,omitempty" schema:"min=0,max=100000000" doc:"default 100000"`
	Seed   uint64 `yaml:"seed,omitempty" doc:"default 1"`
}

// Source is a cited public source.
type Source struct {
	ID    string `yaml:"id" json:"id" schema:"required"`
	Title string `yaml:"title" json:"title" schema:"required"`
	URL   string `yaml:"url" json:"url" schema:"required"`
}
