//go:build kiln_tools

// Package v20170312 is a stand-in for the Tencent Cloud VPC SDK package of the same path
// (github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312), which the module
// proxy kiln builds from does not serve. flannel's tencent-vpc backend imports it, and flanneld's
// main links every backend; test/tools/k8s/addons.sh replaces the SDK module with this package so
// flanneld builds unmodified. It declares only what that backend uses, and every call fails:
// kiln's test cluster runs the vxlan backend, never tencent-vpc.
package v20170312

import "errors"

var errStandIn = errors.New("tencent-vpc: this flanneld was built with a stand-in for the Tencent Cloud VPC SDK (kiln test/tools/k8s/addons.sh); use another backend")

// Client is the stand-in SDK client; its calls all return errStandIn.
type Client struct{}

// NewClientWithSecretId returns a Client whose calls all fail.
func NewClientWithSecretId(secretID, secretKey, region string) (*Client, error) {
	return &Client{}, nil
}

type Filter struct {
	Name   *string
	Values []*string
}

type Route struct {
	RouteId              *uint64
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteType            *string
	Enabled              *bool
}

type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

type DescribeRouteTablesRequest struct{ Filters []*Filter }

type DescribeRouteTablesResponse struct {
	Response *struct{ RouteTableSet []*RouteTable }
}

type DeleteRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

type DeleteRoutesResponse struct{}

type CreateRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

type CreateRoutesResponse struct{}

func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest {
	return &DescribeRouteTablesRequest{}
}
func NewDeleteRoutesRequest() *DeleteRoutesRequest { return &DeleteRoutesRequest{} }
func NewCreateRoutesRequest() *CreateRoutesRequest { return &CreateRoutesRequest{} }

func (*Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, errStandIn
}

func (*Client) DeleteRoutes(*DeleteRoutesRequest) (*DeleteRoutesResponse, error) {
	return nil, errStandIn
}

func (*Client) CreateRoutes(*CreateRoutesRequest) (*CreateRoutesResponse, error) {
	return nil, errStandIn
}
